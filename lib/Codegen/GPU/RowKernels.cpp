//===- RowKernels.cpp - Row-wise ops fused into one kernel ----------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-row-kernels: in the GPU entries, a run of consecutive linalg ops
// that all work row by row over the same rows -- fills and reductions of
// per-row values, elementwise ops over the rows' elements and over the
// per-row values -- becomes one kernel with a warp per row (a softmax: the
// row maxima, the sums of exponentials and the quotients in one kernel
// instead of five). See the pass description.
//
//===----------------------------------------------------------------------===//

#include "GpuEntries.h"
#include "Reductions.h"

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

#include "llvm/ADT/MapVector.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUROWKERNELS
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

constexpr int64_t kWarp = 32;
constexpr int64_t kBlock = 256; // threads per block

/// What a member of a row group does for each row.
enum class Kind {
  Fill,   // sets the row's value of a per-row buffer
  Reduce, // combines the row's elements into a per-row value
  Map,    // computes each element of the row (an elementwise op)
  RowMap, // computes a per-row value from per-row values
};

struct Member {
  linalg::LinalgOp op;
  Kind kind;
  Operation *combiner = nullptr; // (Reduce)
  TypedAttr neutral;             // (Reduce)
};

/// A run of ops fused into one kernel: the rows (the leading, parallel
/// dims every member shares), the columns (the inner dims of the rows'
/// elements), the buffers the members write and those some member reads
/// other than at its own row and column.
struct Group {
  SmallVector<Member> members;
  SmallVector<int64_t> rows, columns;
  llvm::SmallDenseSet<Value> written, nonLocal;
  bool hasReduce = false;
  // A member read a buffer of unknown origin (a loop-carried or selected
  // memref, a call's result), which may be any buffer: nothing may write
  // after it.
  bool unknownReads = false;
};

/// A buffer that is not a view of another: an argument of an entry point
/// (the runtime refuses overlapping arguments; a function an entry calls
/// may get views of one buffer) or an allocation, so two of them never
/// overlap.
bool isRoot(Value buffer) {
  if (auto arg = dyn_cast<BlockArgument>(buffer)) {
    auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
    return func && arg.getOwner() == &func.getBody().front() &&
           func->hasAttr("kiln.entry");
  }
  Operation *def = buffer.getDefiningOp();
  return def && isa<gpu::AllocOp, memref::AllocOp, memref::AllocaOp>(def);
}

/// The buffer `buffer` is a view of (through reshapes, subviews, casts).
Value rootOf(Value buffer) {
  while (auto view = buffer.getDefiningOp<ViewLikeOpInterface>())
    buffer = view.getViewSource();
  return buffer;
}

/// Whether `map` is (d0, ..., d(n-1)) -> (d0, ..., d(count-1)).
bool isLeadingIdentity(AffineMap map, unsigned count) {
  if (map.getNumResults() != count)
    return false;
  for (auto [i, e] : llvm::enumerate(map.getResults())) {
    auto dim = dyn_cast<AffineDimExpr>(e);
    if (!dim || dim.getPosition() != i)
      return false;
  }
  return true;
}

bool staticShape(Value buffer, ArrayRef<int64_t> shape) {
  auto type = dyn_cast<MemRefType>(buffer.getType());
  return type && type.hasStaticShape() && type.getShape() == shape;
}

/// How `op` would join group `g` (its kind, and the rows and columns it
/// implies), or nullopt if it cannot. `g` is not changed.
std::optional<Member> classify(linalg::LinalgOp op, const Group &g,
                               SmallVectorImpl<int64_t> &rows,
                               SmallVectorImpl<int64_t> &columns) {
  rows.assign(g.rows.begin(), g.rows.end());
  columns.assign(g.columns.begin(), g.columns.end());
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1)
    return std::nullopt;
  Value out = op.getDpsInitOperand(0)->get();
  auto outType = dyn_cast<MemRefType>(out.getType());
  if (!outType || !outType.hasStaticShape() || outType.getRank() == 0 ||
      !isRoot(out))
    return std::nullopt;
  if (g.unknownReads)
    return std::nullopt; // every member writes
  if (auto fill = dyn_cast<linalg::FillOp>(op.getOperation())) {
    // (A fill converts its value to the element type; keep it simple.)
    if (fill.getInputs().front().getType() != outType.getElementType())
      return std::nullopt;
    if (rows.empty())
      rows.assign(outType.getShape().begin(), outType.getShape().end());
    if (outType.getShape() != ArrayRef<int64_t>(rows))
      return std::nullopt;
    return Member{op, Kind::Fill, nullptr, TypedAttr()};
  }
  auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
  if (!generic)
    return std::nullopt;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return std::nullopt;
  unsigned loops = op.getNumLoops(), outRank = outType.getRank();
  if (!isLeadingIdentity(op.getMatchingIndexingMap(op.getDpsInitOperand(0)),
                         outRank))
    return std::nullopt;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  auto allOf = [&](unsigned from, unsigned to, utils::IteratorType t) {
    for (unsigned i = from; i < to; ++i)
      if (iterators[i] != t)
        return false;
    return true;
  };
  Member member{op, Kind::Map, nullptr, TypedAttr()};
  if (loops > outRank) {
    // Reduce: the output's dims parallel, the rest reductions.
    if (!allOf(0, outRank, utils::IteratorType::parallel) ||
        !allOf(outRank, loops, utils::IteratorType::reduction))
      return std::nullopt;
    std::optional<std::pair<Operation *, TypedAttr>> combiner =
        kiln::reorderableCombiner(generic);
    if (!combiner)
      return std::nullopt;
    SmallVector<int64_t> r(ranges.begin(), ranges.begin() + outRank);
    SmallVector<int64_t> c(ranges.begin() + outRank, ranges.end());
    if ((!rows.empty() && r != rows) || (!columns.empty() && c != columns))
      return std::nullopt;
    rows = r;
    columns = c;
    member = Member{op, Kind::Reduce, combiner->first, combiner->second};
  } else {
    // All parallel: over the rows' elements or over the rows only. Not as
    // a group's first op (its rows would be ambiguous).
    if (rows.empty() || !allOf(0, loops, utils::IteratorType::parallel))
      return std::nullopt;
    if (ArrayRef<int64_t>(ranges) == ArrayRef<int64_t>(rows)) {
      member.kind = Kind::RowMap;
    } else {
      if (ranges.size() <= rows.size() ||
          ArrayRef<int64_t>(ranges).take_front(rows.size()) != ArrayRef<int64_t>(rows))
        return std::nullopt;
      SmallVector<int64_t> c(ranges.begin() + rows.size(), ranges.end());
      if (!columns.empty() && c != columns)
        return std::nullopt;
      columns = c;
    }
  }
  // Reads: what the group wrote only at the member's own row (per-row
  // values) or own element; the rest anywhere. Nothing else in the body
  // touches memory but loads of buffers the group does not write.
  unsigned rowCount = rows.size();
  for (OpOperand *input : op.getDpsInputOperands()) {
    Value value = input->get();
    auto type = dyn_cast<MemRefType>(value.getType());
    if (!type)
      continue;
    if (value == out && member.kind == Kind::Reduce)
      return std::nullopt;
    AffineMap map = op.getMatchingIndexingMap(input);
    // (Through a view, a written buffer is read at other places.)
    bool local = type.getRank() > 0 && rootOf(value) == value &&
                 ((isLeadingIdentity(map, rowCount) &&
                   staticShape(value, rows)) ||
                  (member.kind != Kind::RowMap &&
                   isLeadingIdentity(map, loops) && map.getNumDims() == loops));
    Value root = rootOf(value);
    if (!local && g.written.contains(root))
      return std::nullopt;
    // A buffer of unknown origin may be one the run writes.
    if (!isRoot(root) && !g.written.empty())
      return std::nullopt;
  }
  WalkResult walk = generic.getBody()->walk([&](Operation *inner) {
    if (auto load = dyn_cast<memref::LoadOp>(inner)) {
      Value root = rootOf(load.getMemRef());
      return g.written.contains(root) || (!isRoot(root) && !g.written.empty())
                 ? WalkResult::interrupt()
                 : WalkResult::advance();
    }
    if (isa<linalg::IndexOp, linalg::YieldOp>(inner) ||
        isMemoryEffectFree(inner))
      return WalkResult::advance();
    return WalkResult::interrupt();
  });
  if (walk.wasInterrupted() || g.nonLocal.contains(out))
    return std::nullopt;
  if (member.kind == Kind::Map && !staticShape(out, ranges))
    return std::nullopt;
  if (member.kind != Kind::Map && !staticShape(out, rows))
    return std::nullopt;
  return member;
}

/// Records what `m` writes and reads non-locally into `g`.
void add(Group &g, Member m, ArrayRef<int64_t> rows,
         ArrayRef<int64_t> columns) {
  linalg::LinalgOp op = m.op;
  g.rows.assign(rows.begin(), rows.end());
  g.columns.assign(columns.begin(), columns.end());
  g.written.insert(op.getDpsInitOperand(0)->get());
  g.hasReduce |= m.kind == Kind::Reduce;
  unsigned loops = op.getNumLoops();
  for (OpOperand *input : op.getDpsInputOperands()) {
    auto type = dyn_cast<MemRefType>(input->get().getType());
    if (!type)
      continue;
    Value root = rootOf(input->get());
    g.unknownReads |= !isRoot(root);
    if (type.getRank() == 0) {
      g.nonLocal.insert(root); // the same element for every row
      continue;
    }
    AffineMap map = op.getMatchingIndexingMap(input);
    bool local = root == input->get() &&
                 ((isLeadingIdentity(map, rows.size()) &&
                   staticShape(input->get(), rows)) ||
                  (m.kind != Kind::RowMap && isLeadingIdentity(map, loops)));
    if (!local)
      g.nonLocal.insert(root);
  }
  if (auto generic = dyn_cast<linalg::GenericOp>(op.getOperation()))
    generic.getBody()->walk([&](memref::LoadOp load) {
      Value root = rootOf(load.getMemRef());
      g.nonLocal.insert(root);
      g.unknownReads |= !isRoot(root);
    });
  g.members.push_back(m);
}

/// The kernel of one group.
class RowKernel {
public:
  RowKernel(RewriterBase &rewriter, Group &g)
      : rewriter(rewriter), g(g), loc(g.members.back().op.getLoc()) {
    int64_t length = 1;
    for (int64_t c : g.columns)
      length *= c;
    rowLength = length;
    // A warp per row for rows of a warp's length or more whose per-row
    // values gpu.shuffle carries; a thread per row otherwise.
    bool shuffles = llvm::all_of(g.members, [](Member &m) {
      Type element = getElementTypeOrSelf(m.op.getDpsInitOperand(0)->get());
      return m.kind != Kind::Reduce || element.isF32() || element.isF64() ||
             element.isInteger(32) || element.isInteger(64);
    });
    lanes = length >= kWarp && shuffles ? kWarp : 1;
  }

  void build(bool emulate) {
    rewriter.setInsertionPoint(g.members.back().op);
    int64_t rowCount = 1;
    for (int64_t r : g.rows)
      rowCount *= r;
    Value rowsTotal = index(rowCount);
    if (emulate) {
      // The shuffles' exchange buffers, one pair per reduction.
      if (lanes > 1)
        for (size_t i = 0; i < g.members.size(); ++i)
          if (g.members[i].kind == Kind::Reduce) {
            auto type =
                MemRefType::get({kWarp}, g.members[i].neutral.getType());
            exchanges[i] = {memref::AllocaOp::create(rewriter, loc, type),
                            memref::AllocaOp::create(rewriter, loc, type)};
          }
      loop(index(0), rowsTotal, index(1), [&](Value row) {
        emitRow(row, /*lane=*/Value(), /*emulate=*/true);
      });
    } else {
      int64_t rowsPerBlock = kBlock / lanes;
      Value one = index(1);
      Value blocks = index(std::max<int64_t>(
          1, (rowCount + rowsPerBlock - 1) / rowsPerBlock));
      auto launch = gpu::LaunchOp::create(rewriter, loc, blocks, one, one,
                                          index(kBlock), one, one);
      rewriter.setInsertionPointToEnd(&launch.getBody().front());
      auto terminator = gpu::TerminatorOp::create(rewriter, loc);
      rewriter.setInsertionPoint(terminator);
      Value tid = launch.getThreadIds().x;
      Value lane = lanes == 1
                       ? index(0)
                       : arith::RemUIOp::create(rewriter, loc, tid,
                                                index(lanes))
                             .getResult();
      Value row = arith::AddIOp::create(
          rewriter, loc,
          arith::MulIOp::create(rewriter, loc, launch.getBlockIds().x,
                                index(rowsPerBlock)),
          lanes == 1 ? tid
                     : arith::DivUIOp::create(rewriter, loc, tid,
                                              index(lanes))
                           .getResult());
      // Uniform across a warp: its lanes stay together for the shuffles.
      Value inside = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::ult, row, rowsTotal);
      auto guard = scf::IfOp::create(rewriter, loc, inside);
      rewriter.setInsertionPoint(guard.thenBlock()->getTerminator());
      emitRow(row, lane, /*emulate=*/false);
    }
    for (Member &m : llvm::reverse(g.members))
      rewriter.eraseOp(m.op);
  }

private:
  Value index(int64_t v) {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  }

  template <typename Body>
  void loop(Value lower, Value upper, Value step, Body &&body) {
    auto forOp = scf::ForOp::create(rewriter, loc, lower, upper, step);
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(forOp.getBody()->getTerminator());
    body(forOp.getInductionVar());
  }

  /// `flat` as indices over `shape` (row-major), appended to `ivs`.
  void delinearize(Value flat, ArrayRef<int64_t> shape,
                   SmallVectorImpl<Value> &ivs) {
    SmallVector<Value> out(shape.size());
    Value rest = flat;
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
      out[d] = d == 0 ? rest
                      : arith::RemUIOp::create(rewriter, loc, rest,
                                               index(shape[d]))
                            .getResult();
      if (d > 0)
        rest = arith::DivUIOp::create(rewriter, loc, rest, index(shape[d]));
    }
    ivs.append(out.begin(), out.end());
  }

  /// The member's body at loop values `ivs`, its output argument `out`:
  /// inputs from the per-row values in registers where the group computed
  /// them, loaded otherwise.
  Value body(Member &m, ArrayRef<Value> ivs, Value out) {
    auto generic = cast<linalg::GenericOp>(m.op.getOperation());
    return kiln::inlineBody(
        rewriter, loc, generic, ivs, out, [&](OpOperand *input) -> Value {
          auto known = registers.find(input->get());
          if (known == registers.end() ||
              !isLeadingIdentity(m.op.getMatchingIndexingMap(input),
                                 g.rows.size()))
            return Value();
          return known->second;
        });
  }

  /// The current per-row value of row buffer `buffer`.
  Value rowValue(Value buffer, ArrayRef<Value> rowIvs) {
    auto known = registers.find(buffer);
    if (known != registers.end())
      return known->second;
    return memref::LoadOp::create(rewriter, loc, buffer, rowIvs);
  }

  /// The elements `lane`, `lane + lanes`, ... of the row, each given its
  /// loop values.
  template <typename Body>
  void eachElement(Value lane, ArrayRef<Value> rowIvs, Body &&body) {
    loop(lane, index(rowLength), index(lanes), [&](Value flat) {
      SmallVector<Value> ivs(rowIvs.begin(), rowIvs.end());
      delinearize(flat, g.columns, ivs);
      body(ivs);
    });
  }

  /// A reduction's share of lane `lane`: its elements combined through the
  /// body from the neutral element.
  Value share(Member &m, Value lane, ArrayRef<Value> rowIvs) {
    Value start = arith::ConstantOp::create(rewriter, loc, m.neutral);
    auto forOp = scf::ForOp::create(
        rewriter, loc, lane, index(rowLength), index(lanes),
        ValueRange{start},
        [&](OpBuilder &b, Location, Value flat, ValueRange acc) {
          OpBuilder::InsertionGuard guard(rewriter);
          rewriter.setInsertionPoint(b.getInsertionBlock(),
                                     b.getInsertionPoint());
          SmallVector<Value> ivs(rowIvs.begin(), rowIvs.end());
          delinearize(flat, g.columns, ivs);
          scf::YieldOp::create(rewriter, loc, body(m, ivs, acc.front()));
        });
    return forOp.getResult(0);
  }

  /// Every member for row `row`, then the per-row values stored (by lane
  /// 0). With `emulate`, the lanes run in turn: a loop over them around
  /// each elementwise member, the shuffles as exchanges through buffers.
  void emitRow(Value row, Value lane, bool emulate) {
    registers.clear();
    SmallVector<Value> rowIvs;
    delinearize(row, g.rows, rowIvs);
    for (size_t i = 0; i < g.members.size(); ++i) {
      Member &m = g.members[i];
      Value out = m.op.getDpsInitOperand(0)->get();
      switch (m.kind) {
      case Kind::Fill:
        registers[out] = m.op.getDpsInputOperand(0)->get();
        break;
      case Kind::RowMap:
        registers[out] = body(m, rowIvs, rowValue(out, rowIvs));
        break;
      case Kind::Reduce: {
        Value initial = rowValue(out, rowIvs);
        Value total;
        if (lanes == 1) {
          total = share(m, emulate ? index(0) : lane, rowIvs);
        } else if (emulate) {
          Value exchange = exchanges[i].first, swapped = exchanges[i].second;
          total = kiln::emulatedWarpTotal(
              rewriter, loc, m.combiner, exchange, swapped,
              [&](Value l) { return share(m, l, rowIvs); });
        } else {
          total = kiln::warpTotal(rewriter, loc, m.combiner,
                                  share(m, lane, rowIvs));
        }
        registers[out] = kiln::combineWith(rewriter, m.combiner, initial,
                                           total);
        break;
      }
      case Kind::Map: {
        auto generic = cast<linalg::GenericOp>(m.op.getOperation());
        bool readsOut = !generic.getRegionOutputArgs().front().use_empty();
        auto elements = [&](Value l) {
          eachElement(l, rowIvs, [&](ArrayRef<Value> ivs) {
            Value old = readsOut ? memref::LoadOp::create(rewriter, loc, out,
                                                          ivs)
                                       .getResult()
                                 : Value();
            memref::StoreOp::create(rewriter, loc, body(m, ivs, old), out,
                                    ivs);
          });
        };
        if (emulate)
          loop(index(0), index(lanes), index(1), elements);
        else
          elements(lane);
        break;
      }
      }
    }
    // The per-row values, in the order the members wrote them.
    auto store = [&] {
      for (Member &m : g.members) {
        Value out = m.op.getDpsInitOperand(0)->get();
        if (m.kind == Kind::Map || !registers.count(out))
          continue;
        memref::StoreOp::create(rewriter, loc, registers[out], out, rowIvs);
        registers.erase(out);
      }
    };
    if (emulate || lanes == 1) {
      store();
      return;
    }
    // Every lane is past its last read of the per-row buffers (an earlier
    // member may have loaded their old values) before lane 0 stores.
    NVVM::SyncWarpOp::create(
        rewriter, loc,
        arith::ConstantIntOp::create(rewriter, loc, -1, 32).getResult());
    Value first = arith::CmpIOp::create(rewriter, loc,
                                        arith::CmpIPredicate::eq, lane,
                                        index(0));
    auto ifOp = scf::IfOp::create(rewriter, loc, first);
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    store();
  }

  RewriterBase &rewriter;
  Group &g;
  Location loc;
  int64_t rowLength = 1, lanes = 1;
  llvm::DenseMap<Value, Value> registers; // row buffer -> this row's value
  llvm::DenseMap<size_t, std::pair<Value, Value>> exchanges; // (emulation)
};

struct GPURowKernelsPass
    : public mlir::kiln::impl::KilnGPURowKernelsBase<GPURowKernelsPass> {
  using Base::Base;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    SmallVector<Group, 0> groups;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (!emulate && !kiln::isGpuFunction(func))
        continue;
      func.walk([&](Block *block) {
        if (block->getParentOp()->getParentOfType<gpu::LaunchOp>() ||
            isa<gpu::LaunchOp>(block->getParentOp()))
          return;
        collect(*block, groups);
      });
    }
    for (Group &g : groups)
      RowKernel(rewriter, g).build(emulate);
  }

  /// Runs of ops that form row groups in `block`.
  static void collect(Block &block, SmallVectorImpl<Group> &groups) {
    Group current;
    auto close = [&] {
      if (current.members.size() >= 2 && current.hasReduce)
        groups.push_back(std::move(current));
      current = Group();
    };
    for (Operation &op : block) {
      auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
      if (!linalgOp) {
        // Pure ops (constants, index arithmetic) may sit between members;
        // the kernel goes where the last member was.
        if (!isMemoryEffectFree(&op) || op.getNumRegions() != 0)
          close();
        continue;
      }
      SmallVector<int64_t> rows, columns;
      std::optional<Member> m = classify(linalgOp, current, rows, columns);
      if (!m) {
        close();
        m = classify(linalgOp, current, rows, columns);
        if (!m)
          continue;
      }
      add(current, *m, rows, columns);
    }
    close();
  }
};

} // namespace
