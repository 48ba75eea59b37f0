//===- ParallelLoops.cpp - scf.forall on the runtime's thread pool --------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-cpu-parallel-loops: every outermost scf.forall (on memrefs) is
// outlined into a function that runs a range of its linearized iterations
// and replaced by a call of the runtime's kiln_parallel_for. The values the
// body uses from outside travel in a struct on the caller's stack, in their
// LLVM form; unrealized casts on both sides meet the ones the LLVM
// conversion inserts and cancel out.
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCPUPARALLELLOOPS
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kParallelFor = "kiln_parallel_for";

/// An index value for `bound` (a constant or an SSA value mapped by `map`).
Value materialize(OpBuilder &b, Location loc, OpFoldResult bound,
                  const IRMapping &map) {
  if (auto value = dyn_cast<Value>(bound))
    return map.lookupOrDefault(value);
  return arith::ConstantIndexOp::create(
      b, loc, cast<IntegerAttr>(cast<Attribute>(bound)).getInt());
}

/// The trip count of each dimension of `loop`, as index values.
SmallVector<Value> tripCounts(OpBuilder &b, scf::ForallOp loop,
                              const IRMapping &map) {
  Location loc = loop.getLoc();
  SmallVector<Value> counts;
  for (auto [lower, upper, step] :
       llvm::zip_equal(loop.getMixedLowerBound(), loop.getMixedUpperBound(),
                       loop.getMixedStep())) {
    Value lb = materialize(b, loc, lower, map);
    Value ub = materialize(b, loc, upper, map);
    Value st = materialize(b, loc, step, map);
    Value extent = arith::SubIOp::create(b, loc, ub, lb);
    counts.push_back(arith::CeilDivSIOp::create(b, loc, extent, st));
  }
  return counts;
}

class Outliner {
public:
  Outliner(ModuleOp module)
      : module(module), context(module.getContext()), converter(context),
        pointer(LLVM::LLVMPointerType::get(context)),
        i64(IntegerType::get(context, 64)) {}

  LogicalResult outline(scf::ForallOp loop, unsigned index) {
    auto parent = loop->getParentOfType<func::FuncOp>();
    if (loop.getNumResults() != 0)
      return loop.emitError("kiln-cpu-parallel-loops: the loop still has "
                            "tensor results (run it after bufferization)");
    Location loc = loop.getLoc();
    // Everything the body and the bounds use from outside.
    llvm::SetVector<Value> captured;
    getUsedValuesDefinedAbove(loop.getRegion(), captured);
    for (Value bound : loop.getDynamicLowerBound())
      captured.insert(bound);
    for (Value bound : loop.getDynamicUpperBound())
      captured.insert(bound);
    for (Value bound : loop.getDynamicStep())
      captured.insert(bound);
    SmallVector<Type> fields;
    for (Value value : captured) {
      Type type = converter.convertType(value.getType());
      if (!type || !LLVM::isCompatibleType(type))
        return loop.emitError("kiln-cpu-parallel-loops: cannot pass a value "
                              "of type ")
               << value.getType() << " to a parallel loop's body";
      fields.push_back(type);
    }
    auto record = LLVM::LLVMStructType::getLiteral(context, fields);

    func::FuncOp body = createBody(loop, parent, index, captured, record);

    // The call site: the context on the stack (one slot per loop, in the
    // function's entry block so that a loop inside a loop reuses it).
    OpBuilder b(loop);
    Value slot;
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&parent.getBody().front());
      Value one = LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(1));
      slot = LLVM::AllocaOp::create(b, loc, pointer, record, one);
    }
    for (auto [i, value] : llvm::enumerate(captured)) {
      Value stored = value;
      if (value.getType() != fields[i])
        stored = UnrealizedConversionCastOp::create(b, loc, fields[i], value)
                     .getResult(0);
      Value field = LLVM::GEPOp::create(
          b, loc, pointer, record, slot,
          ArrayRef<LLVM::GEPArg>{0, static_cast<int32_t>(i)});
      LLVM::StoreOp::create(b, loc, stored, field);
    }
    IRMapping identity;
    Value total = arith::ConstantIndexOp::create(b, loc, 1);
    for (Value count : tripCounts(b, loop, identity))
      total = arith::MulIOp::create(b, loc, total, count);
    Value iterations = arith::IndexCastOp::create(b, loc, i64, total);
    Value function = func::ConstantOp::create(
        b, loc, body.getFunctionType(), SymbolRefAttr::get(body));
    func::CallOp::create(b, loc, runtimeFunction(body.getFunctionType()),
                         ValueRange{function, slot, iterations});
    loop.erase();
    return success();
  }

private:
  /// `@PARENT_parallel_N(%context, %begin, %end)`: iterations [begin, end)
  /// of `loop`, the captured values loaded from the context.
  func::FuncOp createBody(scf::ForallOp loop, func::FuncOp parent,
                          unsigned index,
                          const llvm::SetVector<Value> &captured,
                          LLVM::LLVMStructType record) {
    Location loc = loop.getLoc();
    OpBuilder b(context);
    b.setInsertionPointAfter(parent);
    auto type = FunctionType::get(context, {pointer, i64, i64}, {});
    std::string name =
        (parent.getSymName() + "_parallel_" + llvm::Twine(index)).str();
    for (unsigned suffix = 0; module.lookupSymbol(name); ++suffix)
      name = (parent.getSymName() + "_parallel_" + llvm::Twine(index) + "_" +
              llvm::Twine(suffix))
                 .str();
    auto body = func::FuncOp::create(b, loc, name, type);
    body.setPrivate();
    Block *entry = body.addEntryBlock();
    b.setInsertionPointToStart(entry);
    IRMapping map;
    for (auto [i, value] : llvm::enumerate(captured)) {
      Type field = record.getBody()[i];
      Value address = LLVM::GEPOp::create(
          b, loc, pointer, record, entry->getArgument(0),
          ArrayRef<LLVM::GEPArg>{0, static_cast<int32_t>(i)});
      Value loaded = LLVM::LoadOp::create(b, loc, field, address);
      if (field != value.getType())
        loaded = UnrealizedConversionCastOp::create(b, loc, value.getType(),
                                                    loaded)
                     .getResult(0);
      map.map(value, loaded);
    }
    Type indexType = b.getIndexType();
    Value begin = arith::IndexCastOp::create(b, loc, indexType,
                                             entry->getArgument(1));
    Value end =
        arith::IndexCastOp::create(b, loc, indexType, entry->getArgument(2));
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    SmallVector<Value> counts = tripCounts(b, loop, map);
    SmallVector<Value> lowers, steps;
    for (OpFoldResult lower : loop.getMixedLowerBound())
      lowers.push_back(materialize(b, loc, lower, map));
    for (OpFoldResult step : loop.getMixedStep())
      steps.push_back(materialize(b, loc, step, map));
    auto linear = scf::ForOp::create(b, loc, begin, end, one);
    b.setInsertionPointToStart(linear.getBody());
    // Delinearize, the last dimension fastest.
    Value rest = linear.getInductionVar();
    SmallVector<Value> ivs(counts.size());
    for (int64_t d = static_cast<int64_t>(counts.size()) - 1; d >= 0; --d) {
      Value position = d ? arith::RemSIOp::create(b, loc, rest, counts[d])
                         : rest;
      if (d)
        rest = arith::DivSIOp::create(b, loc, rest, counts[d]);
      Value offset = arith::MulIOp::create(b, loc, position, steps[d]);
      ivs[d] = arith::AddIOp::create(b, loc, lowers[d], offset);
    }
    for (auto [iv, value] : llvm::zip_equal(loop.getInductionVars(), ivs))
      map.map(iv, value);
    for (Operation &op : loop.getBody()->without_terminator())
      b.clone(op, map);
    b.setInsertionPointToEnd(entry);
    func::ReturnOp::create(b, loc);
    return body;
  }

  /// The declaration of kiln_parallel_for, created on first use.
  func::FuncOp runtimeFunction(FunctionType bodyType) {
    if (auto existing = module.lookupSymbol<func::FuncOp>(kParallelFor))
      return existing;
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    auto declaration = func::FuncOp::create(
        b, module.getLoc(), kParallelFor,
        FunctionType::get(context, {bodyType, pointer, i64}, {}));
    declaration.setPrivate();
    return declaration;
  }

  ModuleOp module;
  MLIRContext *context;
  LLVMTypeConverter converter;
  Type pointer, i64;
};

struct CPUParallelLoopsPass
    : public mlir::kiln::impl::KilnCPUParallelLoopsBase<CPUParallelLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    IRRewriter rewriter(&getContext());
    // Nested foralls (and all of them without threads) become loops.
    SmallVector<scf::ForallOp> sequential, outermost;
    module.walk([&](scf::ForallOp loop) {
      if (!threads || loop->getParentOfType<scf::ForallOp>())
        sequential.push_back(loop);
      else
        outermost.push_back(loop);
    });
    // Innermost first: the walk is post-order.
    for (scf::ForallOp loop : sequential) {
      rewriter.setInsertionPoint(loop);
      if (failed(scf::forallToForLoop(rewriter, loop)))
        return signalPassFailure();
    }
    Outliner outliner(module);
    llvm::DenseMap<Operation *, unsigned> counters;
    for (scf::ForallOp loop : outermost) {
      Operation *parent = loop->getParentOfType<func::FuncOp>();
      if (failed(outliner.outline(loop, counters[parent]++)))
        return signalPassFailure();
    }
  }
};

} // namespace
