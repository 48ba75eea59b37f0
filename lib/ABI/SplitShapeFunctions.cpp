//===- SplitShapeFunctions.cpp - Shape functions of open-extent entries --===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// An entry point whose inputs have `?` extents is compiled once for every
// size. Its caller must still allocate the outputs, so it first calls the
// entry's shape function, which computes the outputs' dynamic extents from
// the inputs' extents and checks that the inputs fit together (the extents
// that convert-kiln-to-linalg requires to be equal, as cf.assert ops):
//
//   func.func @f(%x: tensor<?x4xf32>, %y: tensor<?x4xf32>) -> tensor<?x4xf32>
//   ==>
//   func.func @f_kiln_shape(%x: tensor<?x4xf32>, %y: tensor<?x4xf32>)
//       -> (i32, index)     // 0 or 1 + the index of the failed check; extents
//
// The shape function is a copy of the entry whose results are replaced by
// their dimensions, after which the dimensions are resolved through the ops
// that produce them (ReifyRankedShapedTypeOpInterface) and everything that
// only computed data is dead. What remains may read nothing but the
// arguments' extents; otherwise the outputs' shapes depend on the data,
// which is an error. The checks leave the entry itself: the runtime runs the
// shape function before every call.
//
//===----------------------------------------------------------------------===//

#include "kiln/ABI/EntryPoints.h"
#include "kiln/ABI/Passes.h"
#include "kiln/Conversion/KilnToLinalg/KilnToLinalg.h"

#include "mlir/Analysis/TopologicalSortUtils.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNSPLITSHAPEFUNCTIONS
#include "kiln/ABI/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;


namespace {

/// The initial value whose extents loop value `v` has: a loop variable
/// keeps its extents (the lowering checks each iteration's against the
/// previous one's where they could differ, see ControlFlow.cpp), so the
/// results of an scf.for / scf.while and their region arguments have their
/// initial values' extents. Null when `v` is none of those.
Value initialValueOf(Value v) {
  // What an scf.while's condition passes on (its results, the after
  // block's arguments): a before-block argument (its initial value), or a
  // value from above the loop (itself).
  auto passedOn = [](scf::WhileOp loop, unsigned k) -> Value {
    Value passed = loop.getConditionOp().getArgs()[k];
    if (auto arg = dyn_cast<BlockArgument>(passed);
        arg && arg.getOwner() == loop.getBeforeBody())
      return loop.getInits()[arg.getArgNumber()];
    if (!loop->isAncestor(passed.getParentRegion()->getParentOp()))
      return passed;
    return {};
  };
  if (auto result = dyn_cast<OpResult>(v)) {
    if (auto loop = dyn_cast<scf::ForOp>(result.getOwner()))
      return loop.getInitArgs()[result.getResultNumber()];
    if (auto loop = dyn_cast<scf::WhileOp>(result.getOwner()))
      return passedOn(loop, result.getResultNumber());
    return {};
  }
  auto arg = cast<BlockArgument>(v);
  Operation *owner = arg.getOwner()->getParentOp();
  if (auto loop = dyn_cast_or_null<scf::ForOp>(owner)) {
    if (arg.getArgNumber() == 0)
      return {};
    return loop.getInitArgs()[arg.getArgNumber() - 1];
  }
  if (auto loop = dyn_cast_or_null<scf::WhileOp>(owner)) {
    if (arg.getOwner() == loop.getBeforeBody())
      return loop.getInits()[arg.getArgNumber()];
    return passedOn(loop, arg.getArgNumber());
  }
  return {};
}

/// tensor.dim of a loop value -> tensor.dim of its initial value.
struct DimOfLoopValue : OpRewritePattern<tensor::DimOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(tensor::DimOp dim,
                                PatternRewriter &rewriter) const override {
    Value init = initialValueOf(dim.getSource());
    if (!init || init.getType() != dim.getSource().getType())
      return failure();
    rewriter.modifyOpInPlace(
        dim, [&] { dim.getSourceMutable().assign(init); });
    return success();
  }
};

/// Where extent `d` of `v` comes from, seen from outside `region`: a
/// constant (`size` is an attribute), a value defined above `region`
/// (`size`), or extent `dim` of a tensor defined above it (`tensor`).
struct OutsideExtent {
  OpFoldResult size;
  Value tensor;
  int64_t dim = 0;
};

/// The extent `d` of `v` (defined in `region` or above it), followed
/// through what writes into a value (an insert_slice's destination, a
/// destination-style op's init, a cast's source) to a static extent, a
/// value from above the region, or the sizes of the tensor.empty the
/// region made (themselves constants, values from above, or extents read
/// with tensor.dim). Fails when the extent is computed some other way.
FailureOr<OutsideExtent> extentFromOutside(Value v, int64_t d,
                                           Region &region) {
  MLIRContext *context = v.getContext();
  while (true) {
    auto type = dyn_cast<RankedTensorType>(v.getType());
    if (!type || d < 0 || d >= type.getRank())
      return failure();
    if (!type.isDynamicDim(d))
      return OutsideExtent{IntegerAttr::get(IndexType::get(context),
                                            type.getDimSize(d)),
                           {}, 0};
    if (!region.isAncestor(v.getParentRegion()))
      return OutsideExtent{{}, v, d};
    Operation *op = v.getDefiningOp();
    if (auto insert = dyn_cast_or_null<tensor::InsertSliceOp>(op)) {
      v = insert.getDest();
    } else if (auto castOp = dyn_cast_or_null<tensor::CastOp>(op)) {
      v = castOp.getSource();
    } else if (auto empty = dyn_cast_or_null<tensor::EmptyOp>(op)) {
      Value size = empty.getDynamicSize(d);
      if (!region.isAncestor(size.getParentRegion()))
        return OutsideExtent{size, {}, 0};
      if (std::optional<int64_t> c = getConstantIntValue(size))
        return OutsideExtent{IntegerAttr::get(IndexType::get(context), *c),
                             {}, 0};
      auto dimOp = size.getDefiningOp<tensor::DimOp>();
      std::optional<int64_t> index =
          dimOp ? dimOp.getConstantIndex() : std::nullopt;
      if (!index)
        return failure();
      v = dimOp.getSource();
      d = *index;
    } else if (auto dps = dyn_cast_or_null<DestinationStyleOpInterface>(op)) {
      v = dps.getTiedOpOperand(cast<OpResult>(v))->get();
    } else {
      return failure();
    }
  }
}

/// tensor.dim of an scf.if result whose extent each branch takes from
/// outside (a value passed through or written into, a scatter's update of
/// an in-range index, a tape's write, a new tensor of an outer value's
/// extents) -> that extent, or the one the condition picks (which folds
/// when both are the same).
struct DimOfIfResult : OpRewritePattern<tensor::DimOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(tensor::DimOp dim,
                                PatternRewriter &rewriter) const override {
    auto result = dyn_cast<OpResult>(dim.getSource());
    auto ifOp = result ? dyn_cast<scf::IfOp>(result.getOwner()) : scf::IfOp();
    std::optional<int64_t> d = dim.getConstantIndex();
    if (!ifOp || ifOp.getElseRegion().empty() || !d)
      return failure();
    unsigned k = result.getResultNumber();
    FailureOr<OutsideExtent> a = extentFromOutside(
        ifOp.thenYield().getOperand(k), *d, ifOp.getThenRegion());
    FailureOr<OutsideExtent> b = extentFromOutside(
        ifOp.elseYield().getOperand(k), *d, ifOp.getElseRegion());
    if (failed(a) || failed(b))
      return failure();
    Location loc = dim.getLoc();
    auto materialize = [&](const OutsideExtent &e) -> Value {
      if (e.tensor)
        return tensor::DimOp::create(rewriter, loc, e.tensor, e.dim);
      return getValueOrCreateConstantIndexOp(rewriter, loc, e.size);
    };
    if (a->tensor && a->tensor == b->tensor && a->dim == b->dim) {
      rewriter.replaceOpWithNewOp<tensor::DimOp>(dim, a->tensor, a->dim);
      return success();
    }
    Value va = materialize(*a), vb = materialize(*b);
    if (va == vb) {
      rewriter.replaceOp(dim, va);
      return success();
    }
    rewriter.replaceOpWithNewOp<arith::SelectOp>(dim, ifOp.getCondition(), va,
                                                 vb);
    return success();
  }
};

/// The patterns that read an extent from where it comes from: an op's
/// operands (reification), a loop value's initial value, what an scf.if's
/// branches write into. Shared by the shape functions and the checks moved
/// out of loops.
void populateExtentPatterns(RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  memref::populateResolveRankedShapedTypeResultDimsPatterns(patterns);
  memref::populateResolveShapedTypeResultDimsPatterns(patterns);
  tensor::DimOp::getCanonicalizationPatterns(patterns, context);
  patterns.add<DimOfLoopValue, DimOfIfResult>(context);
}

struct SplitShapeFunctionsPass
    : public mlir::kiln::impl::KilnSplitShapeFunctionsBase<SplitShapeFunctionsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    bool ok = true;

    // Checks can only be run ahead of the call from the top level of an
    // entry point. Those inside loops and branches (the extents of values a
    // loop carries, an open batch through a recurrent layer) move there
    // when their conditions read only extents known before the op that
    // holds them.
    for (auto func : llvm::to_vector(module.getOps<func::FuncOp>()))
      if (getEntry(func) && !func.isExternal() && failed(hoistChecks(func)))
        return signalPassFailure();
    module.walk([&](cf::AssertOp check) {
      auto func = dyn_cast<func::FuncOp>(check->getParentOp());
      if (!func || !getEntry(func)) {
        check.emitError()
            << "a run-time shape check ('" << check.getMsg()
            << "') inside a loop, a branch or a function that is not an "
               "entry point, on extents known only there, is not "
               "supported: give these values static shapes";
        ok = false;
      }
    });
    if (!ok)
      return signalPassFailure();

    for (auto func : llvm::to_vector(module.getOps<func::FuncOp>())) {
      EntryAttr entry = getEntry(func);
      if (!entry || func.isExternal())
        continue;
      auto checks = llvm::to_vector(func.getBody().getOps<cf::AssertOp>());
      if (!entry.hasOpenExtents() && checks.empty())
        continue;
      if (failed(split(func, entry, symbols))) {
        ok = false;
        continue;
      }
      for (cf::AssertOp check : checks)
        check.erase();
    }
    if (!ok)
      signalPassFailure();
  }

  /// Moves the checks inside loops and branches of entry `func` to its top
  /// level, before the op that holds each, where their conditions (and
  /// those of the branches they are in, which guard them) read only values
  /// defined there through pure, speculatable arith/affine ops and
  /// tensor.dim: the extents of loop values are first read from their
  /// initial values, and those of results from their operands.
  LogicalResult hoistChecks(func::FuncOp func) {
    bool nested = false;
    func.walk([&](cf::AssertOp check) {
      nested |= check->getParentOp() != func.getOperation();
    });
    if (!nested)
      return success();
    MLIRContext *context = &getContext();
    RewritePatternSet patterns(context);
    populateExtentPatterns(patterns);
    cf::AssertOp::getCanonicalizationPatterns(patterns, context);
    FrozenRewritePatternSet frozen(std::move(patterns));
    // Twice, with common subexpressions merged between: a check of an
    // extent against itself (a tape's rows, computed twice) then folds away.
    for (int round = 0; round < 2; ++round) {
      if (failed(applyPatternsGreedily(func, frozen)))
        return func.emitError() << "entry point '" << func.getName()
                                << "': its checks did not converge";
      IRRewriter rewriter(context);
      DominanceInfo dominance(func);
      eliminateCommonSubExpressions(rewriter, dominance, func);
    }
    SmallVector<cf::AssertOp> checks;
    func.walk([&](cf::AssertOp check) {
      if (check->getParentOp() != func.getOperation())
        checks.push_back(check);
    });
    Block &top = func.getBody().front();
    // Whether `v` can be computed before the top-level op holding it: a
    // value of the top block, or one of pure, speculatable ops (no
    // division by a value that may be 0) over such values; the ops
    // needed are added to `slice`.
    auto movable = [&](Value root, SetVector<Operation *> &slice) {
      SmallVector<Value> work = {root};
      while (!work.empty()) {
        Value v = work.pop_back_val();
        if (v.getParentBlock() == &top)
          continue;
        Operation *op = v.getDefiningOp();
        bool allowed =
            op && !op->getNumRegions() &&
            (isa<tensor::DimOp, affine::AffineApplyOp, affine::AffineMinOp,
                 affine::AffineMaxOp>(op) ||
             (isa<arith::ArithDialect>(op->getDialect()) && isPure(op) &&
              isSpeculatable(op)));
        if (!allowed)
          return false;
        if (slice.insert(op))
          llvm::append_range(work, op->getOperands());
      }
      return true;
    };
    for (cf::AssertOp check : checks) {
      // The op at the top level that holds the check, and the branches on
      // the way: a check inside a branch holds only when it is taken.
      Operation *holder = check;
      SmallVector<std::pair<scf::IfOp, bool>> branches;
      while (holder->getBlock() != &top) {
        Region *region = holder->getParentRegion();
        holder = holder->getParentOp();
        if (auto ifOp = dyn_cast<scf::IfOp>(holder))
          branches.push_back({ifOp, region == &ifOp.getThenRegion()});
      }
      SetVector<Operation *> slice;
      bool ok = movable(check.getArg(), slice);
      for (auto [ifOp, then] : branches)
        ok = ok && movable(ifOp.getCondition(), slice);
      if (!ok)
        continue; // (reported by the caller: it stays where it is)
      OpBuilder b(holder);
      IRMapping map;
      for (Operation *op : topologicalSort(slice))
        b.clone(*op, map);
      Location loc = check.getLoc();
      Value holds = map.lookupOrDefault(check.getArg());
      for (auto [ifOp, then] : branches) {
        // (ok, or the branch is not taken)
        Value taken = map.lookupOrDefault(ifOp.getCondition());
        if (!then)
          taken = arith::XOrIOp::create(
              b, loc, taken, arith::ConstantIntOp::create(b, loc, 1, 1));
        Value notTaken = arith::XOrIOp::create(
            b, loc, taken, arith::ConstantIntOp::create(b, loc, 1, 1));
        holds = arith::OrIOp::create(b, loc, holds, notTaken);
      }
      cf::AssertOp::create(b, loc, holds, check.getMsg());
      check.erase();
    }
    return success();
  }

  /// Adds the shape function of `func` and records its checks on the
  /// entry's description.
  LogicalResult split(func::FuncOp func, EntryAttr entry,
                      SymbolTable &symbols) {
    MLIRContext *context = &getContext();
    unsigned numIn = entry.getInputs().size();
    unsigned numOut = entry.getOutputs().size();
    auto shapeFn = cast<func::FuncOp>(func->clone());
    shapeFn.setSymName((func.getName() + "_kiln_shape").str());
    for (NamedAttribute attr : llvm::to_vector(shapeFn->getDiscardableAttrs()))
      shapeFn->removeAttr(attr.getName());
    symbols.insert(shapeFn, std::next(Block::iterator(func)));

    // Results: the status, then each output's dynamic extents.
    Block &body = shapeFn.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    OpBuilder b(ret);
    Location loc = ret.getLoc();
    Value status = arith::ConstantIntOp::create(b, loc, 0, 32);
    Value zero = status;
    // The clone's checks are in the same order as the entry's.
    auto clonedChecks = llvm::to_vector(body.getOps<cf::AssertOp>());
    SmallVector<std::string> messages;
    for (auto [k, check] : llvm::enumerate(clonedChecks)) {
      OpBuilder cb(check);
      Value failedHere = arith::XOrIOp::create(
          cb, loc, check.getArg(),
          arith::ConstantIntOp::create(cb, loc, 1, 1));
      Value first = arith::AndIOp::create(
          cb, loc, failedHere,
          arith::CmpIOp::create(cb, loc, arith::CmpIPredicate::eq, status,
                                zero));
      status = arith::SelectOp::create(
          cb, loc, first,
          arith::ConstantIntOp::create(cb, loc, static_cast<int64_t>(k) + 1,
                                       32),
          status);
      messages.push_back(check.getMsg().str());
      check.erase();
    }
    b.setInsertionPoint(ret);
    SmallVector<Value> results = {status};
    for (unsigned j = 0; j < numOut; ++j) {
      Value output = ret.getOperand(j);
      auto type = cast<RankedTensorType>(output.getType());
      for (int64_t d = 0; d < type.getRank(); ++d)
        if (type.isDynamicDim(d))
          results.push_back(tensor::DimOp::create(b, loc, output, d));
    }
    func::ReturnOp::create(b, loc, results);
    ret.erase();
    shapeFn.setFunctionType(FunctionType::get(
        context, shapeFn.getArgumentTypes(), ValueRange(results).getTypes()));

    // The shape function neither prints, sorts, communicates nor reports
    // value checks (the entry does, when it runs): without those calls,
    // what they were in dies. It may ask for a group's size (the extent of
    // an all_gather's result).
    SmallVector<func::CallOp> effects;
    shapeFn.walk([&](func::CallOp call) {
      if (call.getCallee() == "kiln_check_failed" ||
          call.getCallee() == "kiln_summary_scalar" ||
          call.getCallee().starts_with("kiln_print_") ||
          call.getCallee().starts_with("kiln_sort_") ||
          isCollectiveRuntimeCall(call.getCallee()))
        effects.push_back(call);
    });
    for (func::CallOp call : effects)
      call.erase();
    // Nor does it fill kiln.sort's buffers (their extents are what counts).
    shapeFn.walk([](bufferization::MaterializeInDestinationOp copy) {
      if (isa<BaseMemRefType>(copy.getDest().getType()))
        copy.erase();
    });
    // Resolve the extents through the ops that produced the outputs; what
    // only computed data dies.
    RewritePatternSet patterns(context);
    populateExtentPatterns(patterns);
    // Extents of a result held in a buffer of its own (kiln.sort's): the
    // buffer's, which are the allocation's operands.
    bufferization::ToTensorOp::getCanonicalizationPatterns(patterns, context);
    memref::DimOp::getCanonicalizationPatterns(patterns, context);
    tensor::EmptyOp::getCanonicalizationPatterns(patterns, context);
    if (failed(applyPatternsGreedily(shapeFn, std::move(patterns)))) {
      func.emitError() << "entry point '" << func.getName()
                       << "': its shape function did not converge";
      return failure();
    }
    IRRewriter rewriter(context);
    DominanceInfo dominance(shapeFn);
    eliminateCommonSubExpressions(rewriter, dominance, shapeFn);
    // Only extents of the arguments may be read.
    WalkResult data = shapeFn.walk([&](Operation *op) {
      if (op == shapeFn.getOperation() || isa<func::ReturnOp>(op) ||
          isa<arith::ArithDialect, affine::AffineDialect>(op->getDialect()))
        return WalkResult::advance();
      if (auto dim = dyn_cast<tensor::DimOp>(op))
        if (isa<BlockArgument>(dim.getSource()))
          return WalkResult::advance();
      // A group's size or rank, and the constant texts naming the group.
      if (auto call = dyn_cast<func::CallOp>(op);
          call && (call.getCallee() == "kiln_group_size" ||
                   call.getCallee() == "kiln_group_rank"))
        return WalkResult::advance();
      if (isa<memref::GetGlobalOp, memref::ExtractAlignedPointerAsIndexOp>(
              op))
        return WalkResult::advance();
      func.emitError() << "entry point '" << func.getName()
                       << "': the shapes of its outputs cannot be computed "
                          "from the shapes of its inputs alone (they depend "
                          "on '"
                       << op->getName() << "' at " << op->getLoc()
                       << "); give the outputs static shapes";
      return WalkResult::interrupt();
    });
    if (data.wasInterrupted()) {
      shapeFn.erase();
      return failure();
    }
    // Variables have static shapes: the shape function does not take them.
    llvm::BitVector variables(shapeFn.getNumArguments());
    for (unsigned i = numIn; i < shapeFn.getNumArguments(); ++i)
      variables.set(i);
    if (failed(shapeFn.eraseArguments(variables)))
      return failure();

    KilnDialect::ShapeFunctionAttrHelper(context).setAttr(
        shapeFn, FlatSymbolRefAttr::get(func.getNameAttr()));
    KilnDialect::EntryAttrHelper(context).setAttr(
        func, entry.withChecks(llvm::map_to_vector(
                  messages, [](const std::string &m) { return StringRef(m); })));
    return success();
  }
};

} // namespace
